"""Screens of the studio: prompt, plan, board, history, settings, help and modals."""
