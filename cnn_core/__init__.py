"""CNN Lab core: data, model, training, inspection and preprocessing. Never imports streamlit."""
