"""Master data the attendance office keeps: org units, pay officers (DDOs), sites, employees.

Data functions take the session first and leave the commit to the caller;
inputs are the pydantic models of ``hub.masterdata.fields`` (the API bodies
too), so a value is checked the same way wherever it comes from.
"""
