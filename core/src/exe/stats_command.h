/// @file stats_command.h
/// @brief `switchyard stats …`: asks an analytics module on the admin port and prints a table.
#pragma once

namespace switchyard {

/// Runs the subcommand with the arguments after "stats". @return the process exit code.
int runStatsCommand(int argc, char** argv);

}  // namespace switchyard
