puts [string map {a 1 b 2} abcab]
puts [string map {ab X a Y} aab]
puts [string map -nocase {A 1} aA]
puts [string map {{ } _} "a b c"]
puts [string map {} abc]
puts [string repeat ab 3]
puts "<[string repeat ab 0]>"
puts "<[string repeat ab -1]>"
puts [string reverse hello]
puts [string cat a b c]
puts [string replace abcdef 1 2 XY]
puts [string replace abcdef 1 2]
puts [catch {string map {a} abc} m]
puts $m
puts [catch {string repeat ab x} m]
puts $m
