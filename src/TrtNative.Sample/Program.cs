using TrtNative.Sample.Commands;

// TrtNative.Sample: build, inspect, run and benchmark engines. Each command lives in Commands/, one file each;
// Cli.cs parses (System.CommandLine), reports errors and sets the exit code.
return Cli.Run(args);
