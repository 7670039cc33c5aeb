# Rule 2: the first word names the command; it may come from substitution.
set cmd puts
$cmd hello
set p pu
${p}ts world
[string tolower PUTS] lower
set l [list puts "from a list"]
{*}$l
