# Rule 10: a comment starts with # where a command could start.
# a comment line
puts one ;# a comment after a semicolon
puts #notacomment
# a comment that continues \
puts hidden
puts two
proc f {} {
    # comment in a body
    return three
}
puts [f]
  # indented comment
puts [list # a]
