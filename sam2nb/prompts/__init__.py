"""prompts: the prompt log, the checks every prompt passes, the session contract and the editor."""
