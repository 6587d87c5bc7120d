#include "cli/commands.h"

int main(int argc, char** argv) { return deskpilot::cli::Main(argc, argv); }
