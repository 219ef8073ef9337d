"""io: export formats and video writers, importing masks back."""
