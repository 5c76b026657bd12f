"""Speed and memory harness (not tests): each module measures one claim and prints a table."""
