puts foo bar
