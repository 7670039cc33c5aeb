set a b c
