/* placeholder: the simulated charger is being written */
#include <stdio.h>
int main(void)
{
	fputs("wattstream-sim: not yet\n", stderr);
	return 1;
}
