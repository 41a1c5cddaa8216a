"""Credits: invoice disputes (lifecycle, resolution under the authority) and the credit notes that settle them."""
