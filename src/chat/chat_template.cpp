// placeholder: replaced by the chat-template work
