"""Faces in and out: enrolment photos and their quality, templates, site galleries and their keys, erasure."""
