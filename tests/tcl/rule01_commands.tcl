# Rules 1 and 3: commands end at newlines and semicolons; words are separated by white space.
puts one; puts two
puts	three
set a 1;set b 2 ;  set c 3
puts "$a $b $c"
;;
puts [set x four]
