puts a
break
