# Rule 3: words are separated by spaces and tabs; extra white space is ignored.
puts [llength [list a    b	c   ]]
set   x   "  spaced  "
puts "|$x|"
puts [string length $x]
