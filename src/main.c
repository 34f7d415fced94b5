/* main.c: wattstreamd entry point (being written). */
#include <stdio.h>
int main(void)
{
	fputs("wattstreamd: not yet\n", stderr);
	return 1;
}
