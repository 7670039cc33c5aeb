puts ok
frobnicate 1 2
