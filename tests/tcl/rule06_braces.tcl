# Rule 6: braces: no substitution, nesting, only backslash-newline is changed.
set name World
puts {Hello, $name [no] \n}
puts {outer {inner {deep}} done}
puts {a\{b}
puts {a\}b}
puts [string length {a\nb}]
puts {line one \
      line two}
puts {}
puts [llength {{} {} x}]
