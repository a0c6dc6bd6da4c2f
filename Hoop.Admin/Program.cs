using Hoop.Admin.Hosting;

return await HoopHost.RunAsync(args, Console.Out, Console.Error);
