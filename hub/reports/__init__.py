"""Attendance reports: daily register, exceptions, muster roll, payroll days, history.

``queries`` reads the database and applies ``hub.attendance.rules``; ``export`` writes
each report as CSV; ``config`` holds the calendar and flag thresholds. This
module imports nothing, so ``hub.config`` may import ``hub.reports.config``.
"""
