/// @file admin_command.h
/// @brief `switchyard admin …`: a command-line client of the admin REST API (/admin/v1) for
/// scripting: JSON out by default, `-q` for just the id, exit 0 ok, 1 API error, 2 usage.
#pragma once

namespace switchyard {

/// Runs the subcommand with the arguments after "admin". @return the process exit code.
int runAdminCommand(int argc, char** argv);

}  // namespace switchyard
