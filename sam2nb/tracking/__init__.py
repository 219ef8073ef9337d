"""tracking: the prompt log, sessions, the result store, persistence, the editor.

Also segment-everything on one frame.
"""
