"""lending_core."""
