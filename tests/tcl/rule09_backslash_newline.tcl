# Rule 9: backslash-newline and the blanks after it become one space (a word separator outside quotes).
puts [list a \
       b \
       c]
puts "one \
      two"
puts {three \
      four}
set x \
  5
puts $x
