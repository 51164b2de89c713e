"""What punches mean for attendance: the rules of one employee's day."""
