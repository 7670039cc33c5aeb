puts before
puts [string length abc
