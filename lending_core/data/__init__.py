"""Package data of `lending_core`: the product catalogue (`products.json`)."""
