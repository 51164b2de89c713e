"""Attendance reports: daily register, exceptions, muster roll, payroll days, history.

``queries`` reads the database and applies ``hub.attendance.rules`` and ``daycode``;
``plans`` loads each employee's days (shift, holidays, weekly offs, leave, employment);
``export`` writes each report as CSV, ``xlsx`` and ``pdf`` the muster roll; ``config``
holds the calendar, leave codes and flag thresholds. This
module imports nothing, so ``hub.config`` may import ``hub.reports.config``.
"""
