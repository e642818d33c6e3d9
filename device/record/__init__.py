"""The rating record, case events and their canonical form.
Pure; shared by the evaluator, the sync and the stand-in province.
"""
