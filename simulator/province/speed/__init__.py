"""What only makes the stand-in province fast for the drain benchmark. Each module speeds up
one contract function named in its docstring, and says which test holds it to the plain path.
"""
