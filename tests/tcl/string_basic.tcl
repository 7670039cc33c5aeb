set s "Hello, World"
puts [string length $s]
puts [string length ""]
puts [string index $s 0]
puts [string index $s end]
puts [string index $s end-1]
puts "<[string index $s 100]>"
puts "<[string index $s -1]>"
puts [string range $s 0 4]
puts [string range $s 7 end]
puts [string range $s end-4 end]
puts "<[string range $s 5 2]>"
puts [string range $s -5 2]
puts [string range $s 1+1 2+2]
puts [string index abc 0x1]
puts [string len abc]
puts [catch {string index abc x} m]
puts $m
