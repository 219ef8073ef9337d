"""base: errors, atomic files, stop flags, background jobs, colours.

Imports nothing of sam2nb.
"""
