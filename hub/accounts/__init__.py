"""Who uses the hub and what they may do: users and roles, passwords, login sessions, the audit log."""
