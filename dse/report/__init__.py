"""The HTML report and the terminal pick."""
