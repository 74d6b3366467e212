Feature: Quick rollback by Disconnect
  Removing the Entra join from the PC takes it out of the directory and back to a workgroup PC.

  Background:
    Given a Microsoft Entra tenant "Contoso" with the domain "contoso.com"
    And a licensed user "adele.vance@contoso.com" with the password "Blue-Harbor-42"
    And a Windows 11 PC that is not joined
    When I join this device to Microsoft Entra ID as "adele.vance@contoso.com"

  Scenario: Disconnect and restart
    When I open Settings
    And I go to Accounts
    And I select Access work or school
    And I select the connected account
    And I click Disconnect
    And I click "Yes"
    And I click Disconnect
    And I click "Restart now"
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is no longer in Microsoft Entra ID
