"""The messaging room raises no errors of its own yet; the file keeps the room's furniture complete."""
