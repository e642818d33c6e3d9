"""Stand-in provincial 好差评 system: enrolment, signed ratings, heartbeats and tag lists over
HTTP as in `shared/spec/province-api.md`; faults switchable at run time; an officer's page.
"""
