"""What punches mean for attendance: the rules of one employee's day (``rules``), the muster roll's
code of a day (``daycode``), holidays and rosters (``calendar``), and the stored calendar, leave and
shifts (``models``, ``fields``, ``store``, ``leave_import``)."""
