"""The Textual studio of sora-tui (terminal, SSH and browser through textual-serve)."""
