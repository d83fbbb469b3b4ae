"""The parts of scripts/idle-flood.py: the server and /proc (`common`), the flood's
child processes (`flood`), the real members (`members`), the results (`report`)."""
