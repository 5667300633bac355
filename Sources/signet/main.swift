import SignetCLI

await SignetCommand.main()
