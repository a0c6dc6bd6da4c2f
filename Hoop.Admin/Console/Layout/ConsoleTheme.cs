using MudBlazor;

namespace Hoop.Admin.Console.Layout;

/// <summary>One theme for every page, the sign-in page included: system fonts (nothing fetched from elsewhere), colors with readable contrast in light and dark (checked by axe-core in the tests).</summary>
public static class ConsoleTheme
{
    private static readonly string[] Fonts = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"];

    public static readonly MudTheme Theme = new()
    {
        PaletteLight = new PaletteLight
        {
            Primary = "#3b38c4",
            // Pages write explanations and details in Color.Secondary: a muted grey, readable at 4.5:1 or better.
            Secondary = "#5c5f66",
            AppbarBackground = "#2c2a8f",
            Background = "#f6f7fb",
            DrawerBackground = "#ffffff",
            TextSecondary = "rgba(0,0,0,0.68)",
            // Status colors dark enough for white text on them, and their "darken" (alert text) at 4.5:1 or better.
            Info = "#0b63b6",
            InfoDarken = "#084a88",
            Success = "#2e7d32",
            SuccessDarken = "#1b5e20",
            Warning = "#b45309",
            WarningDarken = "#7c3a06",
            Error = "#c62828",
            ErrorDarken = "#8e1c1c",
        },
        PaletteDark = new PaletteDark
        {
            Primary = "#9d9bff",
            Secondary = "#b4b7bd",
            AppbarBackground = "#1c1b3a",
            TextSecondary = "rgba(255,255,255,0.74)",
            // On a dark page alert text is the light tint ("darken" is what MudBlazor's alerts write their text in).
            InfoDarken = "#90caf9",
            SuccessDarken = "#a5d6a7",
            WarningDarken = "#ffcc80",
            ErrorDarken = "#ef9a9a",
        },
        Typography = new Typography
        {
            Default = new DefaultTypography { FontFamily = Fonts },
            H4 = new H4Typography { FontFamily = Fonts, FontSize = "1.75rem", FontWeight = "500" },
            H5 = new H5Typography { FontFamily = Fonts, FontSize = "1.3rem", FontWeight = "500" },
            H6 = new H6Typography { FontFamily = Fonts, FontSize = "1.05rem", FontWeight = "500" },
        },
    };
}
