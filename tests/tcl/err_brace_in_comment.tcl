puts start
proc f {} {
    # an unbalanced { in a comment
    return 1
