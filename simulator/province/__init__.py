"""Stand-in provincial 好差评 system: enrols devices and takes signed ratings over HTTP.

Used by tests, the simulator and benchmarks; it speaks `shared/spec/province-api.md` exactly.
"""
