# Turns a file into a C array at build time: cmake -DIN=... -DOUT=... -DNAME=... -P embed.cmake
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN} at build time. */\n"
  "const unsigned char ${NAME}[] = {${bytes} 0};\n"
  "const unsigned long ${NAME}_len = sizeof(${NAME}) - 1;\n")
