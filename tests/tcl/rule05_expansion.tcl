# Rule 5: {*} expands a word into several words.
set l {b c d}
puts [list a {*}$l e]
puts [llength [list {*}$l]]
puts [list {*}{x y} {*}[list 1 2]]
puts [list {*}{}]
puts [list {*} star]
puts [list {*}"q r"]
set cmd [list string toupper]
puts [{*}$cmd hello]
puts [list {*}{a {b c}}]
