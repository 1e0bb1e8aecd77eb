"""Turning results and errors into text or JSON for people and programs."""
